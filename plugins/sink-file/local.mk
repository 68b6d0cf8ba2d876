# (filled in by its plugin)
