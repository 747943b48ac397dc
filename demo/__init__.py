"""The demo that `make run` shows: synthetic data and quick sklearn models for the four Axion
models, and a small feeder that keeps predictions and A/B outcomes flowing.

Nothing here imports Django: `manage.py seed_demo` (axion_registry) registers what
demo.training builds; demo.feeder talks to the running API over HTTP.
"""
