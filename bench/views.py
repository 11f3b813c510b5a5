from django.shortcuts import render


def floor(request):
    """The reference page: three lines of template, no base template, no queries."""
    return render(request, "bench/floor.html", {"name": "floor"})
