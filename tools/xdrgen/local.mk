# (filled in by the tool's author)
