"""The Slack app: slash commands, the alert buttons, and the signed HTTP endpoint."""
