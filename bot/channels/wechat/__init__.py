"""WeChat channel: the core assistant behind a WeChat Official Account message webhook
(an ASGI app served by uvicorn; passive replies, plain or AES safe mode)."""
