"""The cards of the metrics on image and text embeddings (CLIP-I, the DINO score, CLIP-T
in its three conventions, the directional CLIP similarity, CSD, the aesthetic score), and
the BibTeX entries that they alone cite (``bibtex.BIBTEX`` holds them too)."""

from __future__ import annotations

from likeness.evaluation.catalog.metric_spec import MetricCard

__all__ = ["EMBEDDING_BIBTEX", "EMBEDDING_CARDS"]

EMBEDDING_CARDS: dict[str, MetricCard] = {}
_CLIP_I_INPUT = ("CLIP ViT-B/32 [@radford2021clip] image embeddings{weights}, each image read "
                 "at 8 bits, its shorter side resized to 224 pixels (Pillow bicubic) and "
                 "centre-cropped as OpenAI's preprocessing does")
_DINO_INPUT = ("DINO ViT-S/16 [@caron2021dino] CLS features{weights}, each image read at 8 "
               "bits through the DINO repository's evaluation transform (the shorter side "
               "resized to 256 pixels, Pillow bicubic; the centred 224×224 crop)")
EMBEDDING_CARDS["clip_i"] = MetricCard(
    "CLIP-I", "how alike two images are to CLIP: the cosine of their image embeddings "
    "(subject and content preservation in DreamBooth-style papers)", "−1 to 1 (1: the "
    "same embedding); higher is better", "what the image shows: objects, scene, style to "
    "some degree", "exact positions, fine texture, colour shifts; the 224×224 centre crop "
    "leaves the margins of non-square images out",
    "CLIP-I [@ruiz2023dreambooth]: the cosine of each output's and its reference's "
    + _CLIP_I_INPUT, in_style_runs="CLIP-I [@ruiz2023dreambooth] for content "
    "preservation: the cosine of each stylized image's and its content image's "
    + _CLIP_I_INPUT)
EMBEDDING_CARDS["dino"] = MetricCard(
    "DINO score", "how alike two images are to self-supervised DINO features: the cosine "
    "of their CLS tokens (subject and content preservation in DreamBooth-style papers)",
    "−1 to 1 (1: the same feature); higher is better", "object identity and layout, "
    "texture more than CLIP-I", "colour shifts to some degree; the centre crop leaves the "
    "margins out", "the DINO score [@ruiz2023dreambooth]: the cosine of each output's and "
    "its reference's " + _DINO_INPUT, in_style_runs="the DINO score [@ruiz2023dreambooth] "
    "for content preservation: the cosine of each stylized image's and its content "
    "image's " + _DINO_INPUT)
_OPENAI_INPUT = ("each image read at 8 bits, its shorter side resized to 224 pixels "
                 "(Pillow bicubic) and centre-cropped as OpenAI's preprocessing does")
_CLIP_T_BLIND = ("counting (three apples or four), spatial relations (left of, on top of), "
                 "which attribute belongs to which object, negation; a prompt is read up to "
                 "77 tokens; the 224×224 centre crop leaves the margins of non-square "
                 "images out")
EMBEDDING_CARDS["clip_t"] = MetricCard(
    "CLIP-T", "how well an image shows its prompt, to CLIP: the cosine of the image's and "
    "the prompt's embeddings (text alignment in text-to-image and text-guided editing "
    "papers)", "by convention: CLIP-S 0 to 2.5, torchmetrics' CLIPScore −100 to 100 per "
    "image (its score: the mean clamped at 0), the cosine −1 to 1; higher is better",
    "whether the objects, scene and style the prompt names are there", _CLIP_T_BLIND,
    "CLIP-S [@hessel2021clipscore]: 2.5 · max(cos, 0) of each output's CLIP ViT-B/32 "
    "[@radford2021clip] image embedding{weights} and the text embedding of its prompt "
    "prefixed with \"A photo depicts \" (prompts over 77 tokens truncated, as "
    "`clipscore.py` does), " + _OPENAI_INPUT,
    convention="clip_t_convention",
    by_convention={
        "torchmetrics": "CLIPScore as torchmetrics computes it [@detlefsen2022torchmetrics]: "
                        "100 · cos of each output's CLIP ViT-L/14 [@radford2021clip] image "
                        "embedding{weights} and its prompt's text embedding (prompts cut at "
                        "77 tokens), each image read at 8 bits through Hugging Face's "
                        "`CLIPImageProcessor` (the shorter side resized to 224 pixels, "
                        "Pillow bicubic; the centred crop); torchmetrics' score is the mean "
                        "of these, clamped at 0",
        "cosine": "CLIP-T [@ruiz2023dreambooth]: the cosine of each output's CLIP ViT-B/32 "
                  "[@radford2021clip] image embedding{weights} and its prompt's text "
                  "embedding (a prompt over 77 tokens is an error, not truncated), "
                  + _OPENAI_INPUT})
EMBEDDING_CARDS["clip_direction"] = MetricCard(
    "Directional CLIP similarity", "whether an edit goes where its text says: the cosine "
    "of the change of the image embedding (reference → output) and the change of the text "
    "embedding (source prompt → prompt)", "−1 to 1 (0 where a change vanishes); higher is "
    "better", "the direction of the change: the prompt's edit done, and not another",
    "how much of the reference is kept: an output that changes everything in the right "
    "direction scores well (report CLIP-I or LPIPS beside it); " + _CLIP_T_BLIND,
    "the directional CLIP similarity [@gal2022stylegannada]: the cosine of the difference "
    "of each output's and its reference's CLIP ViT-B/32 [@radford2021clip] image "
    "embeddings{weights} and the difference of the text embeddings of its prompt and its "
    "source prompt (prompts over 77 tokens truncated), " + _OPENAI_INPUT,
    in_style_runs="the directional CLIP similarity [@gal2022stylegannada]: the cosine of "
    "the difference of each stylized image's and its content image's CLIP ViT-B/32 "
    "[@radford2021clip] image embeddings{weights} and the difference of the text "
    "embeddings of its prompt and its source prompt (prompts over 77 tokens truncated), "
    + _OPENAI_INPUT)
_CSD_INPUT = ("CSD style descriptors (CLIP ViT-L/14 [@radford2021clip] features through the "
              "style head, L2-normalised){weights}, each image read at 8 bits, its shorter "
              "side resized to 224 pixels (Pillow bicubic) and centre-cropped (the authors' "
              "evaluation transform)")
EMBEDDING_CARDS["csd"] = MetricCard(
    "CSD style similarity", "how alike two images' styles are to CSD, a CLIP ViT-L tuned "
    "to match images in one artist's style and to ignore what they show: the cosine of "
    "their style descriptors (the style metric of 2024–26 style-transfer papers)",
    "−1 to 1 (1: the same descriptor); higher is better", "style: palette, brushwork, "
    "texture, medium", "content, by training (a content head is trained against the style "
    "head); the margins the centre crop leaves out.  The authors' README notes a "
    "discrepancy between the released weights and the paper's numbers: `methods.md` "
    "records the checkpoint's hash",
    "CSD [@somepalli2024csd]: the cosine of each output's and its reference's " + _CSD_INPUT,
    in_style_runs="CSD [@somepalli2024csd] for style: the cosine of each stylized image's "
    "and its style image's " + _CSD_INPUT)
EMBEDDING_CARDS["aesthetic"] = MetricCard(
    "Aesthetic score", "how pleasing an image looks to a model of human ratings: the LAION "
    "aesthetic predictor v2, an MLP on the image's CLIP ViT-L/14 embedding trained on the "
    "SAC, LAION-Logos and AVA ratings", "about 1 to 10 (AVA's rating scale); higher is "
    "better", "composition, lighting, sharpness, and the subjects its raters liked",
    "the reference, content and style: it scores the output alone, so it says nothing of "
    "fidelity; the tastes of its raters; the margins the centre crop leaves out",
    "the aesthetic score [@schuhmann2022aesthetic]: the LAION aesthetic predictor v2's MLP "
    "head on each output's L2-normalised CLIP ViT-L/14 [@radford2021clip] image "
    "embedding{weights}, each image read at 8 bits, its shorter side resized to 224 "
    "pixels (Pillow bicubic) and centre-cropped as OpenAI's preprocessing does "
    "(`simple_inference.py`)",
    in_style_runs="the aesthetic score [@schuhmann2022aesthetic] of each stylized image: "
    "the LAION aesthetic predictor v2's MLP head on its L2-normalised CLIP ViT-L/14 "
    "[@radford2021clip] image embedding{weights}, each image read at 8 bits, its shorter "
    "side resized to 224 pixels (Pillow bicubic) and centre-cropped as OpenAI's "
    "preprocessing does (`simple_inference.py`)")

EMBEDDING_BIBTEX: dict[str, str] = {
    "radford2021clip": """@inproceedings{radford2021clip,
  author    = {Radford, Alec and Kim, Jong Wook and Hallacy, Chris and Ramesh, Aditya and Goh, Gabriel and Agarwal, Sandhini and Sastry, Girish and Askell, Amanda and Mishkin, Pamela and Clark, Jack and Krueger, Gretchen and Sutskever, Ilya},
  title     = {Learning Transferable Visual Models From Natural Language Supervision},
  booktitle = {International Conference on Machine Learning (ICML)},
  pages     = {8748--8763},
  year      = {2021}
}""",
    "caron2021dino": """@inproceedings{caron2021dino,
  author    = {Caron, Mathilde and Touvron, Hugo and Misra, Ishan and J{\'e}gou, Herv{\'e} and Mairal, Julien and Bojanowski, Piotr and Joulin, Armand},
  title     = {Emerging Properties in Self-Supervised Vision Transformers},
  booktitle = {IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {9650--9660},
  year      = {2021}
}""",
    "ruiz2023dreambooth": """@inproceedings{ruiz2023dreambooth,
  author    = {Ruiz, Nataniel and Li, Yuanzhen and Jampani, Varun and Pritch, Yael and Rubinstein, Michael and Aberman, Kfir},
  title     = {{DreamBooth}: Fine Tuning Text-to-Image Diffusion Models for Subject-Driven Generation},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {22500--22510},
  year      = {2023}
}""",
    "hessel2021clipscore": """@inproceedings{hessel2021clipscore,
  author    = {Hessel, Jack and Holtzman, Ari and Forbes, Maxwell and Le Bras, Ronan and Choi, Yejin},
  title     = {{CLIPScore}: A Reference-free Evaluation Metric for Image Captioning},
  booktitle = {Conference on Empirical Methods in Natural Language Processing (EMNLP)},
  pages     = {7514--7528},
  year      = {2021}
}""",
    "detlefsen2022torchmetrics": """@article{detlefsen2022torchmetrics,
  author  = {Detlefsen, Nicki Skafte and Borovec, Jiri and Schock, Justus and Jha, Ananya Harsh and Koker, Teddy and Di Liello, Luca and Stancl, Daniel and Quan, Changsheng and Grechkin, Maxim and Falcon, William},
  title   = {{TorchMetrics} -- Measuring Reproducibility in {PyTorch}},
  journal = {Journal of Open Source Software},
  volume  = {7},
  number  = {70},
  pages   = {4101},
  year    = {2022},
  doi     = {10.21105/joss.04101}
}""",
    "somepalli2024csd": """@article{somepalli2024csd,
  author  = {Somepalli, Gowthami and Gupta, Anubhav and Gupta, Kamal and Palta, Shramay and Goldblum, Micah and Geiping, Jonas and Shrivastava, Abhinav and Goldstein, Tom},
  title   = {Measuring Style Similarity in Diffusion Models},
  journal = {arXiv preprint arXiv:2404.01292},
  year    = {2024}
}""",
    "schuhmann2022aesthetic": """@misc{schuhmann2022aesthetic,
  author       = {Schuhmann, Christoph},
  title        = {{LAION}-Aesthetics Predictor V2 (improved-aesthetic-predictor)},
  howpublished = {\\url{https://github.com/christophschuhmann/improved-aesthetic-predictor}},
  year         = {2022}
}""",
    "gal2022stylegannada": """@article{gal2022stylegannada,
  author  = {Gal, Rinon and Patashnik, Or and Maron, Haggai and Bermano, Amit H. and Chechik, Gal and Cohen-Or, Daniel},
  title   = {{StyleGAN-NADA}: {CLIP}-Guided Domain Adaptation of Image Generators},
  journal = {ACM Transactions on Graphics},
  volume  = {41},
  number  = {4},
  pages   = {141:1--141:13},
  year    = {2022},
  doi     = {10.1145/3528223.3530164}
}""",
}
