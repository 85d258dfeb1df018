"""Live push of stream records over a websocket, a cursor per subscription."""
