"""How results are shown (issue #11 §1), shaped like pip-audit's ``_format/``.

``interface.py`` names what a listing command shows (a :class:`~.interface.Listing`: a title,
columns, rows, and the columns of the 80-column and ``--wide`` tables) and how it is shown
(a :class:`~.interface.Renderer`: a listing in, text out). One module per format:
``table.py`` (Rich, for a terminal), ``jsonl.py`` (JSON lines), ``csv.py``; ``cells.py``
turns values into cell text. ``html.py`` renders the two documents, the governance report and
the assessment report, with Jinja2 from the templates in ``templates/``.

Used by the faces (``pacsguard.cli``, later ``pacsguard.web``) only; it may read the domain
types it renders, never print, exit or parse options. Nothing is imported here, so that a
command pays only for the format it uses (Jinja2 is imported by ``html.py`` alone).
"""
