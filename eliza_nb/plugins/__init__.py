"""Example plugins shipped with eliza_nb: real, documented and tested, ready to register.

- ``eliza_nb.plugins.notes`` (plugin ``notes``): actions over memories kept in their own
  table, and a provider.
- ``eliza_nb.plugins.http_api`` (``http_api``): a JSON HTTP API with retries, a TTL cache, a
  rate limit and response validation.
- ``eliza_nb.plugins.dataframes`` (``dataframes``): describe, filter and plot the kernel's
  DataFrames by name.
- ``eliza_nb.plugins.openai_compat``: a model plugin for OpenAI-compatible endpoints.

Each module exposes ``plugin`` and is installed under the entry-point group
``eliza_nb.plugins``, so ``%eliza register notes`` finds it. Modules are imported only when
used: importing this package costs nothing.
"""
