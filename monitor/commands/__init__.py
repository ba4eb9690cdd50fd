"""Every sub-command of ``liqmon``, one module each (``monitor/commands/<name>.py``): the CLI's map is this folder."""
