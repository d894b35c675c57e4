"""``labctl serve``: a live web view of a runs folder (``docs/WEB.md``).

* :mod:`labctl.web.cli`: the command, its checks, the listening socket, uvicorn;
* :mod:`labctl.web.access`: access tokens, the Host check, control-request rules;
* :mod:`labctl.web.app`: the Starlette application (pages, JSON API, static files);
* :mod:`labctl.web.follow`: read-only (SWMR) reading of finished and live run files;
* :mod:`labctl.web.runfiles`: which names denote run files inside the runs folder;
* :mod:`labctl.web.owned`: the run this server started and the operator's commands;
* :mod:`labctl.web.figures`: the figures of ``labctl analyze`` for finished runs.

Needs the ``web`` extra (Starlette, uvicorn, plotly); the browser code is in ``static/``
and plotly's own package (``plotly.min.js``): nothing is fetched from the internet.
"""
