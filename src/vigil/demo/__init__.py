"""A demo web app and a load generator, so a fresh install has something to show."""
