"""``pacsguard assess HOST:PORT --authorized-by "NAME, reference"``: an authorised security
assessment of one named DICOM node (docs/assess.md).

One module per check family: :mod:`policy` (association policy), :mod:`services`,
:mod:`identity` (and advisories), :mod:`exposure` (data), :mod:`write` (write exposure and
cleanup), :mod:`query` (query robustness), :mod:`transport` (TLS), :mod:`web`, :mod:`fuzz`
(resilience; its cases in :mod:`fuzz_cases`, its reproducer files in :mod:`reproducer`).
:mod:`net` is the only way any of them reaches the network; :mod:`runner` runs them in order;
:mod:`report` writes JSON and the HTML report. The use cases are in :mod:`pacsguard.app.assess`.
"""
