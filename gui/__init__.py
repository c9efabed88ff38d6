"""MultiChat's tkinter client: Tk windows in front, a trio `ChatSession` behind, trio as Tk's guest.

Layout: `events` (what the session reports), `userinput` (pure parsing of the form and the input
line), `session` (the trio side: TCP stream, IRC lines to events), `widgets`, `connect_form`,
`room`, `private` (the Tk windows), `app` (the controller and the guest-mode glue), `__main__`
(the command line). docs/gui.md tells the story.
"""
