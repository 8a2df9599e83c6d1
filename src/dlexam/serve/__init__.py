"""`dlexam serve`: the exam in the browser, a local web app over the library's own functions.

Pages (their state lives in the URL): ``/geoff`` (Problem 2, Geoff's transformer, editable), ``/sort``
(the compiled and a trained sorter, decoding step by step), ``/cnn`` (Problem 1's CNN on a drawing
or a photo) and ``/answers`` (the answer key, each answer linked to the page that shows its
evidence). A JSON API under ``/api/`` returns exactly what the library returns (docs/serve.md).

- :mod:`dlexam.serve.app`: the Starlette application (routes, pages, static files);
- :mod:`dlexam.serve.guard`: what keeps it local and safe (Host check, headers, size caps, the body's deadline);
- :mod:`dlexam.serve.params`: request fields -> typed values, each error naming its field;
- :mod:`dlexam.serve.state`: its settings and limits, the models the server holds and its caches;
- :mod:`dlexam.serve.api_geoff`, :mod:`dlexam.serve.api_models`, :mod:`dlexam.serve.api_practice`: the JSON endpoints
  (Geoff's; the sorters', the CNN's and the answer key's; /practice's), and what they do alike
  (:mod:`dlexam.serve.endpoint`); :mod:`dlexam.serve.geoff_params`: Geoff's request fields -> a GeoffQuery;
- :mod:`dlexam.serve.evidence`: answer -> page links;
- :mod:`dlexam.serve.server`: binding the socket and running uvicorn;
- :mod:`dlexam.serve.connections`: every connection's deadlines, and the cap per client;
- :mod:`dlexam.serve.workers`: the worker processes that compute answers (``--workers N``), each job within its
  time budget.

This package is an edge (docs/architecture.md): it parses, calls the library and renders.
"""
