# title: Harbour Lights
# author: Bespoke demo
VAR met_friend = false

-> harbour_dawn

=== harbour_dawn ===
# prompt: a quiet harbour at dawn, fishing boats at their moorings
# cast: lead
# seconds: 2
The sun rises over the harbour.
* [Wave to your friend]
    ~ met_friend = true
    -> pier_talk
* [Walk to the lighthouse alone]
    -> cliff_path

=== pier_talk ===
# prompt: two friends talking on a wooden pier, gulls overhead
# cast: lead, friend
# seconds: 3
"The lamp has been dark for three nights," your friend says.
-> cliff_path

=== cliff_path ===
# prompt: a cliff path winding toward a white lighthouse
# cast: lead
# seconds: 2.5
The path climbs steeply.{met_friend: Your friend follows close behind.}
* [Knock on the door]
    -> keeper_door
* [Climb in through the window]
    -> window_climb

=== keeper_door ===
# prompt: a weathered wooden door with an iron knocker
# cast: lead, friend
# seconds: 2
Nobody answers, but the door is unlocked.
-> lamp_room

=== window_climb ===
# prompt: a hand pushing open a salt-crusted window
# cast: lead
# seconds: 1
You tumble inside onto a pile of nets.
-> lamp_room

=== lamp_room ===
# prompt: the great lens of a lighthouse lamp, dark and dusty
# cast: lead
# seconds: 3
The great lamp is dark.
* [Light the lamp]
    -> ending_light
* [Leave it dark]
    -> ending_dark

=== ending_light ===
# prompt: a lighthouse beam sweeping across a stormy sea
# cast: lead, friend
# seconds: 4
The beam sweeps across the sea. Ships turn safely home.
-> END

=== ending_dark ===
# prompt: a dark lighthouse under a moonlit sky
# cast: lead
# seconds: 4
Darkness falls over the harbour.
-> END
