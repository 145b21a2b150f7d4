"""Tasks: preprocess, forward, postprocess; each returns plain JSON-ready data shared by API, CLI and server."""
