"""The explorer: the poll served as a precomputed cube behind a JSON API.

:mod:`.cube` builds the cube (every question × country or region × wave × breakdown
level, with marks) from a :class:`~barometer.poll.publication.Publication`;
:mod:`.disclosure` applies the suppression rules to it (secondary suppression included);
:mod:`.api` is the ASGI app serving it; :mod:`.serve` starts a uvicorn server;
:mod:`.escape` writes JSON that is safe inside HTML. The explorer reads the Publication
only: it opens no store and computes no statistics.
"""
