"""Telegram channel: the core assistant as a python-telegram-bot 22 Application."""
