"""Folium maps, reports and exports. Maps draw; they never compute."""
