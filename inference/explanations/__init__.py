"""Plain-language explanations for patients: a reviewed catalogue (catalogue.json) and the
functions that pick the text that fits one result (explain.py). Pure: no database, no torch."""
