"""`make bench`: our built-in server against the classic bring-your-own stack, and more."""
