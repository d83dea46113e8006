"""题库: the province's question bank and the local questions of its cities and counties.

``rules`` says what a valid question is (pure), ``sheet`` reads an import file into questions, ``importer``
writes an import set-based, ``service`` creates, edits and retires, ``repository`` holds every query, ``api``
the routes.
"""
