"""The application core: jobs and their queue, people, moderation, models and data.

Front ends (``bot.cli``, ``bot.ui``) ask for work through ``bot.core.app.App``; nothing here
imports discord, typer or a terminal library. See docs/architecture.md."""
