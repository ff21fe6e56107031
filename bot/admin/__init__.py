"""The web admin: server-rendered pages for staff, leaders and departments under /admin.

The same roles and case rules as the chat apply, checked on the server for every page and action
(`permissions.requires`); the core's case machine does the work (`handlers.casedesk`).
"""
