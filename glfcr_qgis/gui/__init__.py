"""The desktop side of setting the plugin up: the install offer, the install dialog, the checkpoint manager.

Loaded only by ``GlfcrPlugin.initGui`` (never by ``qgis_process``); the work itself is done by
``glfcr_qgis.core.setup`` in ``QgsTask``s, so the interface thread never waits on pip or a download.
"""
