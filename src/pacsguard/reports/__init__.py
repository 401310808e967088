"""Reports for governance: patch status, risk, and the HTML page a PACS manager attaches."""
