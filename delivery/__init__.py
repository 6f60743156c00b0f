"""The HTTP side of delivery, shared by the activities and the API's test endpoint."""
