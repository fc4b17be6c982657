"""Acting with what an agent learned: reaching goal frames by planning, PPO on its latents, planned episodes as
pictures, and the README's acting section made from their kept records (docs/acting.md)."""
