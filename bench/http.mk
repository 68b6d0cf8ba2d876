# (filled in by its benchmark's author)
