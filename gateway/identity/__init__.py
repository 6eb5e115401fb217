"""Who is calling: the OAuth2 token server, token checks, registered clients,
revocation, and the officers an agency acts for."""
