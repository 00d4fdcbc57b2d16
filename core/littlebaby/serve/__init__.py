"""`littlebaby serve`: the runs of a home in a browser (app.py, pages.py) and behind the OpenAI API (openai_api.py)."""
