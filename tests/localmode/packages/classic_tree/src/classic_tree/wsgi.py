from classic_tree import predictor as myapp

app = myapp.app
