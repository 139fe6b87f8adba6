"""The platform as a Model Context Protocol server: the catalog for AI assistants at `/mcp`.

An assistant (Claude Desktop, an IDE agent, any MCP client) connects over streamable HTTP with an API key
or bearer token and gets tools that search models, read model and dataset cards, list experiments and
their runs' metrics, search the marketplace and call deployed endpoints. Each tool calls the same service
functions as the REST API and the UI, so it obeys the same permissions, and each call is audited.

- `tools`: what each tool does, as plain functions `fn(session=, actor=, ...)` over the services;
- `server`: the `MCPServer`, its tool declarations (their JSON Schemas) and the call wrapper that checks
  the permission, runs the function in a worker thread, audits and maps domain errors to tool errors;
- `transport`: the stateless streamable-HTTP endpoint mounted by `backend.api.create_api`, and the
  mapping of `Authorization` / `X-API-Key` headers to the platform principal.

See docs/mcp.md for connecting a client and the tools' permissions.
"""
