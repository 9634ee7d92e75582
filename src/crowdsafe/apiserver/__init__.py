"""An API server over a fleet's shared PostgreSQL store: ``crowdsafe serve CONFIG``.

It runs no camera.  :class:`~crowdsafe.apiserver.site.FleetSite` serves the config's
cameras, zones and lines from the store (series, alerts, forecasts), from the fleet's
registry (where each camera runs, its health as its worker last wrote it), and from
the workers' notifications (the live feed and each zone's latest sample, ADR 0006).
Any number of these run behind a proxy: none holds state another needs.
"""
