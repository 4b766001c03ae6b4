"""The train split for the fine-tuning frameworks people use, written beside
train/train.json (the ShareGPT conversation file the trainer reads). Every
image path in them is relative to train/, where the images are.

    train/dataset_info.json   LLaMA-Factory's dataset description of train.json
    train/internvl_train.jsonl, train/internvl_meta.json
                              InternVL's multi-image annotation and the meta file
                              its fine-tune scripts take as --meta_path
    train/swift_train.jsonl   ms-swift's standard format (messages + images)

The formats follow the projects' own documentation:
- LLaMA-Factory, hiyouga/LLaMA-Factory data/README.md ("Sharegpt Format",
  the `columns` and `tags` of a dataset description; images resolve against
  the dataset folder, `media_dir`, in src/llamafactory/data/converter.py);
- InternVL, OpenGVLab/InternVL internvl_chat/shell/data/*.json (meta entries
  with root, annotation, data_augment, repeat_time, length, read by
  internvl_chat/internvl/train/internvl_chat_finetune.py, which joins root
  and each image path) and its multi-image records ("image" a list, the
  human turn starting "Image-1: <image>\\nImage-2: <image>\\n");
- ms-swift, modelscope/ms-swift docs/source_en/Customization/Custom-dataset.md
  (one JSON line with "messages" of role/content and "images", one <image>
  tag per image in the user turn).
"""

from __future__ import annotations

from services.coordinator.writers import DatasetWriter, PlacedRecord, Tree, dump, jsonl

DATASET_NAME = "mis_train"
# LLaMA-Factory's sharegpt tags for the turns train.json holds (TrainConversations).
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}


class TrainSplitWriter(DatasetWriter):
    """Collects the train records with their image paths relative to train/."""

    def __init__(self) -> None:
        self.entries: list[tuple[PlacedRecord, list[str]]] = []

    def add(self, placed: PlacedRecord) -> None:
        if placed.record.split == "train":
            self.entries.append((placed, [path.removeprefix("train/") for path in placed.paths]))


class LlamaFactoryInfo(TrainSplitWriter):
    def finish(self, tree: Tree, card: dict) -> None:
        if not self.entries:
            return
        tree.write("train/dataset_info.json", dump({DATASET_NAME: {
            "file_name": "train.json", "formatting": "sharegpt",
            "columns": {"messages": "conversations", "images": "images"},
            "tags": SHAREGPT_TAGS}}))


class InternVLMeta(TrainSplitWriter):
    def finish(self, tree: Tree, card: dict) -> None:
        if not self.entries:
            return
        rows = [{"id": number, "image": images, "conversations": [
                    {"from": "human", "value": f"Image-1: <image>\nImage-2: <image>\n{placed.record.instruction}"},
                    {"from": "gpt", "value": placed.record.cot_label}]}
                for number, (placed, images) in enumerate(self.entries)]
        tree.write("train/internvl_train.jsonl", jsonl(rows))
        tree.write("train/internvl_meta.json", dump({DATASET_NAME: {
            "root": "./", "annotation": "internvl_train.jsonl", "data_augment": False,
            "repeat_time": 1, "length": len(rows)}}))


class SwiftMessages(TrainSplitWriter):
    def finish(self, tree: Tree, card: dict) -> None:
        if not self.entries:
            return
        tree.write("train/swift_train.jsonl", jsonl([
            {"messages": [{"role": "user", "content": f"<image><image>{placed.record.instruction}"},
                          {"role": "assistant", "content": placed.record.cot_label}],
             "images": images}
            for placed, images in self.entries]))


TRAIN_FORMATS: tuple[type[DatasetWriter], ...] = (LlamaFactoryInfo, InternVLMeta, SwiftMessages)
