from stopspread.cli import app

app(prog_name="stopspread")
