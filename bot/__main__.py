from bot.entry import main

main()
