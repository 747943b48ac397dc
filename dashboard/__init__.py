"""The Axion dashboard: a Streamlit app over the REST API (run dashboard/app.py)."""
