"""What every app shares and nothing else: errors, API helpers, admin mixins, row locks,
private files and the client's address. It imports no app of Bespoke."""
