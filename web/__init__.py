"""The web page and JSON API for every role (server-rendered Jinja2 on FastAPI)."""
