"""Summit Assistant: a chat assistant for the 2023 Sino-Morocco Perioperative Summit Forum.

Layout: ``bot.knowledge`` loads and validates the YAML knowledge base, ``bot.core`` is the
channel-agnostic intent engine (message in, reply out, as plain data), ``bot.channels``
holds the thin adapters (console today), ``bot.cli`` the ``forumbot`` console script.
"""

__version__ = "0.1.0"
