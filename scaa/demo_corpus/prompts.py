"""Short neutral sentences for the TTS attacks, a different set for each split.

Written for this project (no external text). Each split's TTS speaks its own
sentences so a model cannot match train text against eval text.
"""

TRAIN_EN = (
    "The morning train leaves the station at seven.",
    "Please close the window before you go out.",
    "The library opens again on Monday morning.",
    "A small boat drifted slowly across the lake.",
    "We planted tomatoes along the garden fence.",
    "The meeting has been moved to the second floor.",
    "Bring a warm coat because the evening is cold.",
    "The baker sells fresh bread until noon.",
    "Her bicycle has a new basket on the front.",
    "The report is due at the end of the week.",
    "Rain is expected later in the afternoon.",
    "The children painted the fence bright green.",
    "Turn left at the corner and walk two blocks.",
    "The kettle is on the shelf above the sink.",
    "Our neighbours keep bees behind the house.",
    "The museum has a new room for old maps.",
)

TRAIN_ES = (
    "El tren de la mañana sale a las siete.",
    "Por favor cierra la ventana antes de salir.",
    "La biblioteca abre de nuevo el lunes.",
    "Un barco pequeño cruzó el lago despacio.",
    "Plantamos tomates junto a la cerca del jardín.",
    "La reunión es ahora en el segundo piso.",
    "Lleva un abrigo porque la noche es fría.",
    "El panadero vende pan fresco hasta el mediodía.",
    "La bicicleta tiene una cesta nueva delante.",
    "El informe se entrega al final de la semana.",
    "Se espera lluvia por la tarde.",
    "Los niños pintaron la cerca de verde.",
)

DEV_FR = (
    "Le bus du matin part à huit heures.",
    "Merci de fermer la porte en sortant.",
    "Le marché ouvre tous les samedis matin.",
    "Une petite voiture rouge attend devant la maison.",
    "Nous avons rangé les livres sur la grande table.",
    "La salle de réunion est au troisième étage.",
    "Il fait plus doux aujourd'hui qu'hier.",
    "Le facteur passe avant midi.",
    "Les enfants jouent dans le parc près de l'école.",
    "Le dossier doit être prêt pour jeudi.",
    "La rivière traverse le village du nord au sud.",
    "On peut acheter des billets à la gare.",
)

EVAL_EN = (
    "The ferry crosses the bay twice every hour.",
    "Keep the receipt in case you need to return it.",
    "The old clock in the hall stopped last night.",
    "A line of geese flew low over the field.",
    "The printer on the third floor is out of paper.",
    "Fresh snow covered the roofs this morning.",
    "The pharmacy closes early on public holidays.",
    "He folded the map and put it in his pocket.",
    "The concert starts half an hour after sunset.",
    "Water the plants on the balcony every other day.",
    "The bridge will be closed for repairs in May.",
    "She wrote the address on the back of the envelope.",
    "The soup needs a little more salt and pepper.",
    "Our flight was delayed by a strong headwind.",
    "The gardener trimmed the hedge along the road.",
    "A quiet street runs behind the town hall.",
)
