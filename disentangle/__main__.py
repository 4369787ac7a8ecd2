from disentangle.cli import main

main()
