"""The manager's web pages: sign-in, the review queue and a lead's page."""
