"""The web app: agent desk, supervisor pages, reports and the API (FastAPI)."""
