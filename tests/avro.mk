# (filled in by its component's author)
