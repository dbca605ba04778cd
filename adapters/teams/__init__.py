"""Microsoft Teams adapter: Adaptive Cards, the bot (botbuilder), transport, and the app package."""
