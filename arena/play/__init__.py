"""What a voter meets: serving battles and recording votes, matchmaking, the prompt bank, the
model catalogue and the web's side of visitors' own prompts. Services over ``models``; the
web and the CLI call them."""
