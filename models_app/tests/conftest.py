from models_app.tests.hostile.fixtures import hostile_corpus  # noqa: F401
