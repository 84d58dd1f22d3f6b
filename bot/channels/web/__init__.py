"""Web channel: a chat page and an embeddable widget for the hospital's web site, over a
small JSON API (Starlette app served by uvicorn; plain HTML, CSS and JavaScript shipped in
``static/``, nothing fetched from elsewhere)."""
