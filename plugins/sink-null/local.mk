# (filled in by the plugin's author)
