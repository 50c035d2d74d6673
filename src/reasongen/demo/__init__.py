"""`reasongen demo`: a local Gradio app that runs every method of the registry on the shipped models
and shows how each got its result. `runs.py` runs a request (no Gradio); `app.py` lays it out."""
